# The smoke test of pattern1010: cmake -DEXAMPLE=<program> -DWORK=<scratch folder> -P smoke.cmake
# 1. a short run writes its PNGs (with the PNG signature), CSVs, checkpoint and an IDX dump;
# 2. --resume continues from that checkpoint;
# 3. --data is not an option of this example (it makes its own data) and is refused.
file(REMOVE_RECURSE "${WORK}")
execute_process(
  COMMAND "${EXAMPLE}" --out "${WORK}" --steps 30 --snapshot-every 10 --dump-samples "${WORK}/samples.idx"
          --dump-count 20
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "pattern1010: the short run failed (${result}):\n${out}\n${err}")
endif()
foreach(file IN ITEMS loss.png loss.csv patterns.png patterns.csv checkpoint.nabla samples.idx)
  if(NOT EXISTS "${WORK}/${file}")
    message(FATAL_ERROR "pattern1010: the short run did not write ${file}:\n${out}")
  endif()
endforeach()
foreach(png IN ITEMS loss.png patterns.png)
  file(READ "${WORK}/${png}" signature LIMIT 8 HEX)
  if(NOT signature STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "pattern1010: ${png} is not a PNG file")
  endif()
endforeach()
file(READ "${WORK}/samples.idx" magic LIMIT 4 HEX)
if(NOT magic STREQUAL "00000803")
  message(FATAL_ERROR "pattern1010: samples.idx is not an unsigned-byte 3-d IDX file (magic ${magic})")
endif()

execute_process(COMMAND "${EXAMPLE}" --out "${WORK}" --steps 40 --resume
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0 OR NOT out MATCHES "resumed from .* at step 30")
  message(FATAL_ERROR "pattern1010: --resume did not continue from step 30 (${result}):\n${out}\n${err}")
endif()

execute_process(COMMAND "${EXAMPLE}" --data "${WORK}/no-such-data" --out "${WORK}/bad" --steps 1
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "pattern1010: --data should be refused (it reads no data set):\n${out}")
endif()
