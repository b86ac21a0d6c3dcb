# Run by each example's smoke test: cmake -DEXAMPLE=<program> -DNAME=<name> -DDATA=<tiny data>
#   -DWORK=<scratch folder> "-DARGS=<extra flags>" -DEXPECT=<files the run must write>
#   [-DNO_DATA=ON] [-DNO_SAMPLES=ON] -P smoke.cmake
# 1. a short run (--steps 3) on the tiny data writes the expected files, PNGs that start with the
#    PNG signature, and an IDX sample dump;
# 2. a missing data folder ends with exit code != 0 and one line naming the folder.
# NO_DATA / NO_SAMPLES (booleans) leave out --data and the missing-data check / --dump-samples.
file(REMOVE_RECURSE "${WORK}")
separate_arguments(extra UNIX_COMMAND "${ARGS}")
set(data_args --data "${DATA}")
if(NO_DATA)
  set(data_args)
endif()
set(sample_args --dump-samples "${WORK}/samples.idx" --dump-count 20)
set(sample_files samples.idx)
if(NO_SAMPLES)
  set(sample_args)
  set(sample_files)
endif()
execute_process(
  COMMAND "${EXAMPLE}" ${data_args} --out "${WORK}" --steps 3 --epochs 1 ${sample_args} ${extra}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${NAME}: the short run failed (${result}):\n${out}\n${err}")
endif()
foreach(file IN LISTS EXPECT sample_files)
  if(NOT EXISTS "${WORK}/${file}")
    message(FATAL_ERROR "${NAME}: the short run did not write ${file}:\n${out}")
  endif()
endforeach()
file(GLOB pngs "${WORK}/*.png")
if(NOT pngs)
  message(FATAL_ERROR "${NAME}: the short run wrote no PNG")
endif()
foreach(png IN LISTS pngs)
  file(READ "${png}" signature LIMIT 8 HEX)
  if(NOT signature STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "${NAME}: ${png} is not a PNG file")
  endif()
endforeach()
if(NOT NO_SAMPLES)
  file(READ "${WORK}/samples.idx" magic LIMIT 4 HEX)
  if(NOT magic MATCHES "^0000080[34]$")
    message(FATAL_ERROR "${NAME}: samples.idx is not an unsigned-byte 3-d or 4-d IDX file (magic ${magic})")
  endif()
endif()

if(NO_DATA)
  return()
endif()
execute_process(COMMAND "${EXAMPLE}" --data "${WORK}/no-such-data" --out "${WORK}/bad" --steps 1
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0 OR NOT err MATCHES "no-such-data")
  message(FATAL_ERROR "${NAME}: a missing data folder should fail with a message naming it (exit ${result}):\n${err}")
endif()
