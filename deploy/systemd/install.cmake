# Run by `cmake --install` (install(SCRIPT) in CMakeLists.txt), so the paths
# written into the unit are those of the prefix installed to, even when it is
# given only then (`cmake --install build --prefix /usr`). DEPOT_SOURCE_DIR is
# set by the install(CODE) before it.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SYSCONFDIR "/etc")  # as GNUInstallDirs does for /usr
else()
  set(SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
set(DOCDIR "${CMAKE_INSTALL_PREFIX}/share/doc/depot")
set(root "$ENV{DESTDIR}")
set(deploy "${DEPOT_SOURCE_DIR}/deploy/systemd")

configure_file("${deploy}/depotd.service.in"
               "${root}${CMAKE_INSTALL_PREFIX}/lib/systemd/system/depotd.service" @ONLY)
message(STATUS "Installing: ${root}${CMAKE_INSTALL_PREFIX}/lib/systemd/system/depotd.service")
configure_file("${deploy}/depot.sysusers"
               "${root}${CMAKE_INSTALL_PREFIX}/lib/sysusers.d/depot.conf" COPYONLY)
message(STATUS "Installing: ${root}${CMAKE_INSTALL_PREFIX}/lib/sysusers.d/depot.conf")
foreach(doc README.md docs/protocol.md deploy/systemd/depotd.toml)
  get_filename_component(name "${doc}" NAME)
  configure_file("${DEPOT_SOURCE_DIR}/${doc}" "${root}${DOCDIR}/${name}" COPYONLY)
endforeach()
message(STATUS "Installing: ${root}${DOCDIR}/ (README.md, protocol.md, depotd.toml)")
# The configuration is the operator's once there: never replaced.
set(config "${root}${SYSCONFDIR}/depot/depotd.toml")
if(EXISTS "${config}")
  message(STATUS "Kept: ${config} (exists; the new example is in ${DOCDIR})")
else()
  configure_file("${deploy}/depotd.toml" "${config}" COPYONLY)
  message(STATUS "Installing: ${config}")
endif()
