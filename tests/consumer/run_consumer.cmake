# Run by the consumer_install test: cmake -D... -P run_consumer.cmake
# Installs the nabla build tree NABLA_BINARY_DIR to WORK_DIR/prefix, then configures, builds and
# runs the project in CONSUMER_SOURCE_DIR against that prefix. Any failing step fails the test.
# CONFIG is the build's configuration; empty when a single-config build has no CMAKE_BUILD_TYPE.

foreach(required IN ITEMS NABLA_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${required} OR "${${required}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${required}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")

function(run_step description)
  message(STATUS "consumer_install: ${description}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer_install: ${description} failed (${result})")
  endif()
endfunction()

set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(NOT "${CONFIG}" STREQUAL "")
  set(config_args --config "${CONFIG}")
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
if(NOT "${MAKE_PROGRAM}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(NOT "${CXX_COMPILER_LAUNCHER}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER}")
endif()
if(NOT "${Eigen3_DIR}" STREQUAL "")
  list(APPEND configure_args "-DEigen3_DIR=${Eigen3_DIR}")
endif()

run_step("install ${NABLA_BINARY_DIR} to ${prefix}"
  "${CMAKE_COMMAND}" --install "${NABLA_BINARY_DIR}" --prefix "${prefix}" ${config_args})
run_step("configure ${CONSUMER_SOURCE_DIR}" "${CMAKE_COMMAND}" ${configure_args})
run_step("build" "${CMAKE_COMMAND}" --build "${build}" ${config_args})
run_step("run" "${build}/bin/nabla_consumer${EXECUTABLE_SUFFIX}")
