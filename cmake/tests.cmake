# Test registration: one ctest entry per executable, labelled.
add_library(hs_testlib STATIC ${CMAKE_SOURCE_DIR}/tests/common/fault_io.c)
target_include_directories(hs_testlib PUBLIC ${CMAKE_SOURCE_DIR}/tests/common)
target_link_libraries(hs_testlib PUBLIC hs_internal)

function(hs_test name label timeout)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE hs_testlib PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${label}" TIMEOUT ${timeout})
endfunction()

file(GLOB HS_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${HS_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  hs_test(${name} unit 120 ${src})
endforeach()

file(GLOB HS_ORACLE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/oracle/test_*.c)
foreach(src ${HS_ORACLE_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(name MATCHES "concurrency")
    hs_test(${name} "oracle;concurrency" 900 ${src})
  else()
    hs_test(${name} oracle 900 ${src})
  endif()
endforeach()

# The catalog's races (creates beside opens and drops) and test_sid's writers racing on the same
# string ids also run under TSan (make test-tsan); so do snapshots beside writers, checkpoints and
# rebuilds.
set_tests_properties(test_catalog test_sid PROPERTIES LABELS "unit;concurrency")
# A change reader beside writer threads and checkpoints (test_changes) runs under TSan too.
set_tests_properties(test_changes PROPERTIES LABELS "unit;concurrency")
set_tests_properties(test_snapshot PROPERTIES LABELS "unit;concurrency")
# Replication: the applied clock under writer threads and injected faults, the node-wide reader
# beside writers, creates and drops, the follower's apply (test_applied, test_node_changes,
# test_replicate) also run under TSan.
set_tests_properties(test_applied test_node_changes test_replicate PROPERTIES LABELS "unit;concurrency")

# The typed error details again with every engine message reworded (HS_ERROR_REWORD).
add_test(NAME test_errors_reworded COMMAND test_errors)
set_tests_properties(test_errors_reworded PROPERTIES LABELS unit TIMEOUT 120
                     ENVIRONMENT HS_ERROR_REWORD=1)

# The trained-hierarchy oracle reads the shared data set beside the project.
set_tests_properties(test_hierarchy_recall PROPERTIES ENVIRONMENT
                     "HS_HIERARCHY_DIR=${CMAKE_SOURCE_DIR}/../shared/bench/hierarchy/data")

# The eviction stress test, longer (label stress-long: not in `make test`; `make test-stress-long`).
add_test(NAME test_eviction_concurrency_long COMMAND test_eviction_concurrency)
set_tests_properties(test_eviction_concurrency_long PROPERTIES LABELS stress-long TIMEOUT 3600
                     ENVIRONMENT HS_STRESS_SECONDS=120)

# The NEON kernels, cross-compiled for aarch64 and run under qemu-user (skipped without them).
add_test(NAME test_neon_qemu COMMAND ${CMAKE_SOURCE_DIR}/tests/cross/run_neon.sh ${CMAKE_BINARY_DIR})
set_tests_properties(test_neon_qemu PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)

# A CPU without AVX2: the same index tests with the scalar kernels forced.
add_test(NAME test_hnsw_scalar_kernels COMMAND test_hnsw)
set_tests_properties(test_hnsw_scalar_kernels PROPERTIES LABELS unit TIMEOUT 300
                     ENVIRONMENT HS_SIMD=scalar)

# Crash tests: kill -9 cycles (label crash; a long variant under crash-long) and power loss.
add_executable(test_crash_kill ${CMAKE_SOURCE_DIR}/tests/crash/test_crash_kill.c)
target_link_libraries(test_crash_kill PRIVATE hs_testlib)
add_test(NAME test_crash_kill COMMAND test_crash_kill)
set_tests_properties(test_crash_kill PROPERTIES LABELS crash TIMEOUT 900
                     ENVIRONMENT HS_CRASH_CYCLES=50)
add_test(NAME test_crash_kill_long COMMAND test_crash_kill)
set_tests_properties(test_crash_kill_long PROPERTIES LABELS crash-long TIMEOUT 3600
                     ENVIRONMENT HS_CRASH_CYCLES=200)
add_executable(test_power_loss ${CMAKE_SOURCE_DIR}/tests/crash/test_power_loss.c)
target_link_libraries(test_power_loss PRIVATE hs_testlib)
add_test(NAME test_power_loss COMMAND test_power_loss)
set_tests_properties(test_power_loss PROPERTIES LABELS crash TIMEOUT 900)

# Integration: the real server on random loopback ports, driven by pytest (Debian's python3).
if(TARGET hyperspace-server)
  add_test(NAME integration COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/tests/integration)
  set_tests_properties(integration PROPERTIES LABELS integration TIMEOUT 1200
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1")
  # The same suite with every engine message reworded (HS_ERROR_REWORD prefixes them): the
  # server maps engine failures from their codes and typed details, never from the wording.
  add_test(NAME integration_reworded COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/tests/integration)
  set_tests_properties(integration_reworded PROPERTIES LABELS integration TIMEOUT 1200
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_ERROR_REWORD=1")
  # The change stream's exactly-once run at 600,000 changes with three kill -9 of the server
  # (the suite runs 100,000 without them): `make test-stress-long`, not in `make test`.
  add_test(NAME integration_events_long COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/tests/integration/test_events.py -k long)
  set_tests_properties(integration_events_long PROPERTIES LABELS stress-long TIMEOUT 3600
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_EVENTS_LONG=1")
  # Replication's long run: 100,000 writes on a leader with random kill -9 of its two followers,
  # then digest equality (the suite runs a few thousand writes): `make test-cluster-long`, not
  # in `make test`.
  add_test(NAME integration_replication_long COMMAND /usr/bin/python3 -m pytest -q -s
           -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/integration/test_replication.py -k long)
  set_tests_properties(integration_replication_long PROPERTIES LABELS cluster-long TIMEOUT 3600
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_REPL_LONG=1")
  # Automatic failover on etcd (tests/integration/test_failover.py): a real etcd and three
  # servers, the leader killed or frozen at random: 20 cycles under label cluster (about 2 to 3
  # minutes), 200 under cluster-long (`make test-cluster-long`).  Skipped without etcd-server.
  add_test(NAME failover COMMAND /usr/bin/python3 -m pytest -q -s -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/tests/integration/test_failover.py)
  set_tests_properties(failover PROPERTIES LABELS cluster TIMEOUT 600
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_FAILOVER_CYCLES=20")
  add_test(NAME failover_long COMMAND /usr/bin/python3 -m pytest -q -s -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/tests/integration/test_failover.py)
  set_tests_properties(failover_long PROPERTIES LABELS cluster-long TIMEOUT 7200
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_FAILOVER_CYCLES=200")
endif()

# Chaos: kill -9 of the real server under load over both transports, checked against a client
# model (tests/chaos/chaos_kill.py).  8 cycles in `make test` (label chaos, ~20 s, ~35 s with ASan);
# 30 cycles under label chaos-long (`make test-chaos-long`, not in `make test`).
if(TARGET hyperspace-server)
  set(HS_CHAOS_ENV "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1")
  add_test(NAME chaos_kill COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/chaos/chaos_kill.py)
  set_tests_properties(chaos_kill PROPERTIES LABELS chaos TIMEOUT 600
                       ENVIRONMENT "${HS_CHAOS_ENV};HS_CHAOS_CYCLES=8;HS_CHAOS_SECONDS=45")
  add_test(NAME chaos_kill_long COMMAND /usr/bin/python3
           ${CMAKE_SOURCE_DIR}/tests/chaos/chaos_kill.py)
  set_tests_properties(chaos_kill_long PROPERTIES LABELS chaos-long TIMEOUT 3600
                       ENVIRONMENT "${HS_CHAOS_ENV};HS_CHAOS_CYCLES=30")
endif()

# Sanitizer builds run the filtered-search oracle on 20,000 points (the release suite runs 100,000).
if(HS_SANITIZE)
  set_tests_properties(test_filter_recall PROPERTIES ENVIRONMENT HS_FILTER_N=20000)
endif()

# Every file of a collection damaged in turn (about a hundred loads of 69,000 points).
set_tests_properties(test_corruption PROPERTIES TIMEOUT 900)

# Layering: no file includes a header of a higher layer (the build refuses it too).
add_test(NAME layers COMMAND /bin/sh ${CMAKE_SOURCE_DIR}/scripts/check_layers.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(layers PROPERTIES LABELS unit TIMEOUT 60)
