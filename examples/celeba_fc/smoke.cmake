# The smoke test of celeba_fc: cmake -DEXAMPLE=<program> -DWORK=<scratch folder> -P smoke.cmake
# 1. a short GAN run on 4 generated faces of CelebA's size (--synthetic writes them as
#    CelebA-layout HDF5 and the run reads them back) writes its PNGs, loss CSV, checkpoint and an
#    RGB IDX sample dump;
# 2. on smaller generated faces (the checkpoint of the full size is 560 MB): --resume, given the
#    HDF5 file as --data, continues from the checkpoint; the discriminator test runs on the HDF5
#    file and on a folder of PNG images;
# 3. a missing data path and a file that is not HDF5 end with exit code != 0 and one line naming them.
file(REMOVE_RECURSE "${WORK}")
function(run_ok what)
  execute_process(COMMAND "${EXAMPLE}" ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "celeba_fc: ${what} failed (${result}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()
function(expect_files folder)
  foreach(file IN LISTS ARGN)
    if(NOT EXISTS "${folder}/${file}")
      message(FATAL_ERROR "celeba_fc: ${folder}/${file} was not written")
    endif()
    if(file MATCHES "\\.png$")
      file(READ "${folder}/${file}" signature LIMIT 8 HEX)
      if(NOT signature STREQUAL "89504e470d0a1a0a")
        message(FATAL_ERROR "celeba_fc: ${folder}/${file} is not a PNG file")
      endif()
    endif()
  endforeach()
endfunction()

run_ok("the short GAN run" --synthetic 4 --out "${WORK}/gan" --steps 2 --sample-every 2
       --dump-samples "${WORK}/gan/samples.idx" --dump-count 3)
expect_files("${WORK}/gan" synthetic_faces.h5 real_images.png fake_images-step2.png fake_images-final.png loss.png
             loss.csv checkpoint.nabla samples.idx)
file(READ "${WORK}/gan/samples.idx" magic LIMIT 4 HEX)
if(NOT magic STREQUAL "00000804")
  message(FATAL_ERROR "celeba_fc: samples.idx is not an unsigned-byte 4-d (N x H x W x 3) IDX file (magic ${magic})")
endif()

run_ok("a short run on small faces" --synthetic 4 --synthetic-size 36x44 --out "${WORK}/small" --steps 3)
run_ok("--resume" --data "${WORK}/small/synthetic_faces.h5" --out "${WORK}/small" --steps 4 --resume)
if(NOT out MATCHES "resumed from .* step 3")
  message(FATAL_ERROR "celeba_fc: --resume did not continue from step 3:\n${out}")
endif()

run_ok("the discriminator test" --mode discriminator-test --data "${WORK}/small/synthetic_faces.h5"
       --out "${WORK}/dtest" --steps 3)
expect_files("${WORK}/dtest" real_images.png noise_images.png loss.png loss.csv checkpoint.nabla)
if(NOT out MATCHES "D on 4 real images")
  message(FATAL_ERROR "celeba_fc: the discriminator test did not report D's outputs:\n${out}")
endif()

file(MAKE_DIRECTORY "${WORK}/folder")
file(COPY_FILE "${WORK}/small/real_images.png" "${WORK}/folder/a.png")
file(COPY_FILE "${WORK}/small/real_images.png" "${WORK}/folder/b.png")
run_ok("the discriminator test on a folder" --mode discriminator-test --data "${WORK}/folder" --out "${WORK}/dfolder")
expect_files("${WORK}/dfolder" loss.png loss.csv)

foreach(bad IN ITEMS no-such-data.h5 gan/loss.csv)
  execute_process(COMMAND "${EXAMPLE}" --data "${WORK}/${bad}" --out "${WORK}/bad" --steps 1
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REGEX MATCHALL "\n" lines "${err}")
  list(LENGTH lines line_count)
  if(result EQUAL 0 OR NOT err MATCHES "${bad}" OR NOT line_count EQUAL 1)
    message(FATAL_ERROR "celeba_fc: --data ${bad} should fail with one line naming it (exit ${result}):\n${err}")
  endif()
endforeach()
