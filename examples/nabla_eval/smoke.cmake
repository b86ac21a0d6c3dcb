# nabla-eval's smoke test: cmake -DEVAL=<nabla-eval> -DDATA=<tiny data> -DWORK=<scratch folder> -P smoke.cmake
# 1. trains the classifier for a few steps on the tiny data, then judges the tiny test images with
#    their labels: every figure's line is printed and the checkpoint is written;
# 2. again from the cached checkpoint with --json: one JSON object with every figure;
# 3. a missing samples file, a file that is not IDX and a missing data folder each end with exit
#    code != 0 and one line naming the file.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(classifier "${WORK}/classifier.nabla")
set(samples "${DATA}/t10k-images-idx3-ubyte.gz")
set(labels "${DATA}/t10k-labels-idx1-ubyte.gz")

execute_process(COMMAND "${EVAL}" "${samples}" --labels "${labels}" --data "${DATA}" --classifier "${classifier}"
                        --steps 4 --batch 16
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "nabla-eval: the short run failed (${result}):\n${out}\n${err}")
endif()
if(NOT EXISTS "${classifier}")
  message(FATAL_ERROR "nabla-eval: the short run did not write ${classifier}:\n${out}")
endif()
foreach(line IN ITEMS "classifier: .*test accuracy .*trained now, 4 steps" "real held-out images \\(reference\\):"
                      "samples: .*, 64 images" "FID +[0-9.]+" "count +[0-9 ]+" "share % +[0-9. ]+"
                      "classes >= 5 % +[0-9]+ of 10" "confidence +[0-9.]+" "IS +[0-9.]+"
                      "label accuracy +[0-9.]+ %")
  if(NOT out MATCHES "${line}")
    message(FATAL_ERROR "nabla-eval: no line matching '${line}' in:\n${out}")
  endif()
endforeach()

execute_process(COMMAND "${EVAL}" "${samples}" --labels "${labels}" --data "${DATA}" --classifier "${classifier}" --json
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "nabla-eval --json failed (${result}):\n${out}\n${err}")
endif()
string(JSON trained_now ERROR_VARIABLE json_error GET "${out}" classifier trained_now)
if(json_error OR NOT trained_now STREQUAL "OFF")
  message(FATAL_ERROR "nabla-eval --json: expected the cached classifier (trained_now false): ${json_error}\n${out}")
endif()
foreach(key IN ITEMS fid histogram classes_at_least_5_percent confidence inception_score label_accuracy)
  string(JSON value ERROR_VARIABLE json_error GET "${out}" samples ${key})
  if(json_error)
    message(FATAL_ERROR "nabla-eval --json: no samples.${key}: ${json_error}\n${out}")
  endif()
endforeach()
string(JSON classes ERROR_VARIABLE json_error LENGTH "${out}" reference histogram)
if(json_error OR NOT classes EQUAL 10)
  message(FATAL_ERROR "nabla-eval --json: reference.histogram should have 10 counts: ${json_error}\n${out}")
endif()

file(WRITE "${WORK}/not-idx.idx" "this is not an IDX file\n")
foreach(case IN ITEMS "no-such-samples.idx" "not-idx.idx" "data")
  if(case STREQUAL "data")
    set(args "${samples}" --data "${WORK}/no-such-data" --classifier "${classifier}")
    set(name "no-such-data")
  else()
    set(args "${WORK}/${case}" --data "${DATA}" --classifier "${classifier}")
    set(name "${case}")
  endif()
  execute_process(COMMAND "${EVAL}" ${args} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(result EQUAL 0 OR NOT err MATCHES "^nabla-eval: error: [^\n]*${name}[^\n]*\n$")
    message(FATAL_ERROR "nabla-eval: ${case} should fail with one line naming it (exit ${result}):\n${out}\n${err}")
  endif()
endforeach()
