# The smoke test of mnist_improved --experiments (row 3b):
#   cmake -DEXAMPLE=<program> -DDATA=<tiny data> -DWORK=<scratch folder> -P experiments_smoke.cmake
# 1. --experiments without a checkpoint fails with a line naming the checkpoint;
# 2. after a 3-step run, --experiments writes its three pictures as PNG files;
# 3. the stage uniform1 (zdim 1) trains, and --experiments works on it too.
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND "${EXAMPLE}" --experiments --out "${WORK}"
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0 OR NOT err MATCHES "checkpoint.nabla")
  message(FATAL_ERROR "mnist_improved: --experiments without a checkpoint should fail naming it (${result}):\n${err}")
endif()
foreach(stage IN ITEMS normal100 uniform1)
  set(folder "${WORK}/${stage}")
  execute_process(COMMAND "${EXAMPLE}" --stage ${stage} --data "${DATA}" --out "${folder}" --steps 3
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT EXISTS "${folder}/checkpoint.nabla")
    message(FATAL_ERROR "mnist_improved: the short run of ${stage} failed (${result}):\n${out}\n${err}")
  endif()
  execute_process(COMMAND "${EXAMPLE}" --stage ${stage} --experiments --out "${folder}" --pairs 2 --between 8
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "mnist_improved: --experiments on ${stage} failed (${result}):\n${out}\n${err}")
  endif()
  foreach(png IN ITEMS seeds.png interpolation.png arithmetic.png)
    if(NOT EXISTS "${folder}/${png}")
      message(FATAL_ERROR "mnist_improved: --experiments on ${stage} did not write ${png}:\n${out}")
    endif()
    file(READ "${folder}/${png}" signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "mnist_improved: ${folder}/${png} is not a PNG file")
    endif()
  endforeach()
endforeach()
