# bench_smoke: runs roc-bench briefly; passes when it exits 0 and prints a
# row for each system. No timing is checked.
execute_process(COMMAND ${BENCH} --seconds 0.2
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "roc-bench exited with ${rc}: ${err}")
endif()
foreach(sys nng_stream nng_reqrep roc)
  foreach(wl small echo1k echo1m threads4 pipe8 pipe64)
    if(NOT out MATCHES "\n${wl} +${sys} +[0-9]")
      message(FATAL_ERROR "no ${wl} row for ${sys} in the output")
    endif()
  endforeach()
endforeach()
