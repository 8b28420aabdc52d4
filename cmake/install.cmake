# make install: binaries, the C API header, the engine as static and shared library, a
# pkg-config file, the systemd unit and the default settings file (packaging/).
include(GNUInstallDirs)

# The shared engine library: the module objects of the static library (compiled
# position-independent).  Built by `make install` (not by default).
add_library(hyperspace_shared SHARED EXCLUDE_FROM_ALL ${HS_MODULE_OBJECTS})
set_target_properties(hyperspace_shared PROPERTIES OUTPUT_NAME hyperspace
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                      C_VISIBILITY_PRESET default)
target_include_directories(hyperspace_shared PUBLIC include)
target_include_directories(hyperspace_shared SYSTEM PUBLIC ${ROARING_INCLUDE})
target_link_libraries(hyperspace_shared PUBLIC Threads::Threads m PkgConfig::CJSON PkgConfig::ICU
                      ${ROARING_LIB})

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(HS_CONF_DIR /etc/hyperspace)
else()
  set(HS_CONF_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/hyperspace)
endif()
set(HS_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
configure_file(${CMAKE_SOURCE_DIR}/packaging/systemd/hyperspace.service.in
               ${CMAKE_BINARY_DIR}/packaging/hyperspace.service @ONLY)
configure_file(${CMAKE_SOURCE_DIR}/packaging/hyperspace.pc.in
               ${CMAKE_BINARY_DIR}/packaging/hyperspace.pc @ONLY)

install(TARGETS hyperspace-server hyperspace-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS hyperspace ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS hyperspace_shared OPTIONAL LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/hyperspace.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/packaging/hyperspace.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
# systemd looks in <prefix>/lib/systemd/system for /usr and /usr/local
install(FILES ${CMAKE_BINARY_DIR}/packaging/hyperspace.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/hyperspace.conf DESTINATION ${HS_CONF_DIR})
