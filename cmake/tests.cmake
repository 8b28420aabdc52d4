# Test registration: one ctest entry per executable, labelled.
function(hs_test name label timeout)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE hyperspace PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT ${timeout})
endfunction()

file(GLOB HS_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${HS_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  hs_test(${name} unit 120 ${src})
endforeach()

file(GLOB HS_ORACLE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/oracle/test_*.c)
foreach(src ${HS_ORACLE_TESTS})
  get_filename_component(name ${src} NAME_WE)
  hs_test(${name} oracle 900 ${src})
endforeach()
