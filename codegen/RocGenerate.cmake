# roc_generate(TARGET FILE.roc...)
#
# Runs rocgen on each .roc file at build time and adds the generated
# FILE.roc.c / FILE.roc.h to TARGET (its include path gets the output
# directory). A generated file is rebuilt when its .roc file, any file it
# imports (through rocgen's depfile) or rocgen itself changes. Imports are
# searched next to the importing file and in the directories of all FILES.
function(roc_generate target)
  # from an installed package the imported roc::rocgen; in the ROC tree
  # the rocgen target (which may be defined later in the configure step)
  if(TARGET roc::rocgen)
    set(_rocgen roc::rocgen)
  else()
    set(_rocgen rocgen)
  endif()
  if(NOT ARGN)
    message(FATAL_ERROR "roc_generate(${target}): no .roc files given")
  endif()
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/rocgen-${target})
  file(MAKE_DIRECTORY ${outdir})
  set(incs)
  set(all_abs)
  foreach(f ${ARGN})
    get_filename_component(abs ${f} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    list(APPEND incs -I ${dir})
    list(APPEND all_abs ${abs})
  endforeach()
  list(REMOVE_DUPLICATES incs)
  foreach(abs ${all_abs})
    get_filename_component(name ${abs} NAME)
    set(h ${outdir}/${name}.h)
    set(c ${outdir}/${name}.c)
    add_custom_command(
      OUTPUT ${h} ${c}
      COMMAND ${_rocgen} -o ${outdir} ${incs} -d ${outdir}/${name}.d ${abs}
      DEPENDS ${abs} ${_rocgen}
      DEPFILE ${outdir}/${name}.d
      COMMENT "rocgen ${name}"
      VERBATIM)
    target_sources(${target} PRIVATE ${c} ${h})
  endforeach()
  target_include_directories(${target} PUBLIC ${outdir})
endfunction()
