# Layers the compiler enforces.  Every module of src/ includes its headers as "<module>/<file>.h".
# hs_layer_root(NAME MODULE...) makes ${CMAKE_BINARY_DIR}/layers/NAME holding one link per
# listed module (to src/<module>, or server/), so a target whose include path is that root can
# name those modules' headers and no others: an include of a higher layer is "No such file".
# hs_module(NAME BELOW...) adds the object library hs_mod_NAME from src/NAME/*.c compiled
# against a root of NAME and the modules below it; HS_MODULE_OBJECTS collects the objects.
function(hs_layer_root name)
  set(root ${CMAKE_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root})
  foreach(m ${ARGN})
    if(m STREQUAL "server")
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/server ${root}/server SYMBOLIC)
    else()
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${m} ${root}/${m} SYMBOLIC)
    endif()
  endforeach()
  set(HS_LAYER_ROOT_${name} ${root} PARENT_SCOPE)
endfunction()

function(hs_module name)
  hs_layer_root(mod_${name} ${name} ${ARGN})
  file(GLOB src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.c)
  add_library(hs_mod_${name} OBJECT ${src})
  # position-independent, so the same objects also make the shared library (make install)
  set_target_properties(hs_mod_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(hs_mod_${name} PRIVATE ${CMAKE_SOURCE_DIR}/include
                             ${HS_LAYER_ROOT_mod_${name}})
  target_link_libraries(hs_mod_${name} PRIVATE Threads::Threads)
  set(HS_MODULES ${HS_MODULES} ${name} PARENT_SCOPE)
  set(HS_MODULE_OBJECTS ${HS_MODULE_OBJECTS} $<TARGET_OBJECTS:hs_mod_${name}> PARENT_SCOPE)
endfunction()
