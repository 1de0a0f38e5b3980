# imgbuild_add_stage(NAME [SOURCES ...] [DEPENDS stage ...] [PUBLIC_LIBS target ...] [LIBS target ...])
#
# One static library per pipeline stage. Dependencies point backwards only: a stage may depend on
# stages listed before it in IMGBUILD_STAGE_ORDER, and configuring fails on a forward edge, so the
# layering of ARCHITECTURE.md is enforced by the build rather than by review.
# A stage with no sources yet is an INTERFACE library, so later stages can already name it.
set(IMGBUILD_STAGE_ORDER core wrap recipe resolve fetch install customize commit image verify pipeline)

function(imgbuild_add_stage name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;PUBLIC_LIBS;LIBS" ${ARGN})
  list(FIND IMGBUILD_STAGE_ORDER ${name} own_index)
  if(own_index EQUAL -1)
    message(FATAL_ERROR "imgbuild_add_stage: '${name}' is not in IMGBUILD_STAGE_ORDER")
  endif()
  foreach(dep IN LISTS ARG_DEPENDS)
    list(FIND IMGBUILD_STAGE_ORDER ${dep} dep_index)
    if(dep_index EQUAL -1 OR NOT dep_index LESS own_index)
      message(FATAL_ERROR "stage '${name}' may not depend on '${dep}': dependencies point backwards "
                          "only (order: ${IMGBUILD_STAGE_ORDER})")
    endif()
  endforeach()
  list(TRANSFORM ARG_DEPENDS PREPEND imgbuild_)

  set(target imgbuild_${name})
  if(ARG_SOURCES)
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include
                                         PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${ARG_DEPENDS} ${ARG_PUBLIC_LIBS} PRIVATE imgbuild_warnings ${ARG_LIBS})
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE ${ARG_DEPENDS})
  endif()
endfunction()
