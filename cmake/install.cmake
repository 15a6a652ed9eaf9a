# What `cmake --install` and the Debian package (CPack DEB) ship.
#
# Programs: every target named in RIKE_INSTALL_SBIN (administrator's
# programs, in sbin) or RIKE_INSTALL_BIN (bin) that exists. A new program
# adds itself with `list(APPEND RIKE_INSTALL_BIN my-tool)` before this file
# is included, or with its own install(TARGETS ...) rule; its man page goes
# in man/ and is picked up below.
include(GNUInstallDirs)
# `cmake --install` and cpack install what is built (build first, as the
# README says); without this, cpack's "preinstall" step re-checks every
# test target of the tree, which takes tens of seconds on a busy machine.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

list(APPEND RIKE_INSTALL_SBIN riked rikectl)
foreach(kind SBIN BIN)
  foreach(t IN LISTS RIKE_INSTALL_${kind})
    if(TARGET ${t})
      install(TARGETS ${t} DESTINATION ${CMAKE_INSTALL_${kind}DIR})
    endif()
  endforeach()
endforeach()

# Man pages: man/NAME.SECTION, compressed as Debian wants them.
file(GLOB RIKE_MAN_PAGES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.[1-8])
foreach(page ${RIKE_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\.([1-8])$" "\\1" section ${name})
  set(gz ${CMAKE_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${gz} COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                     COMMAND gzip -9n -c ${page} > ${gz} DEPENDS ${page} VERBATIM)
  list(APPEND RIKE_MAN_GZ ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(rike_man ALL DEPENDS ${RIKE_MAN_GZ})
# Building only the programs (`--target riked rikectl`) still readies all
# that `cmake --install` needs.
foreach(t IN LISTS RIKE_INSTALL_SBIN RIKE_INSTALL_BIN)
  if(TARGET ${t})
    add_dependencies(${t} rike_man)
  endif()
endforeach()

# Examples and the package's starting configuration.
install(FILES ${CMAKE_SOURCE_DIR}/examples/riked.conf ${CMAKE_SOURCE_DIR}/examples/responder.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/riked.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME riked.conf.default)

# /etc/riked/riked.conf is the operator's: installed when absent, never
# overwritten (in the package it is a conffile, which dpkg treats the same
# way on upgrade). RIKE_SYSCONFDIR is absolute so that a /usr/local prefix
# still configures /etc/riked, where riked looks by default; file(INSTALL)
# adds DESTDIR to an absolute destination itself.
set(RIKE_SYSCONFDIR /etc CACHE PATH "Where riked.conf is installed (riked's default: /etc/riked)")
install(CODE "
  set(dst \"\$ENV{DESTDIR}${RIKE_SYSCONFDIR}/riked/riked.conf\")
  if(EXISTS \"\${dst}\")
    message(STATUS \"Keeping: \${dst}\")
  else()
    file(INSTALL DESTINATION \"${RIKE_SYSCONFDIR}/riked\" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE FILES \"${CMAKE_SOURCE_DIR}/packaging/riked.conf\")
  endif()")

# systemd: the unit (with riked's installed path, known only at install
# time since CPack installs under its own prefix) and the tmpfiles entry.
set(RIKE_SYSTEMD_UNITDIR /lib/systemd/system CACHE PATH "Where riked.service is installed")
set(RIKE_TMPFILESDIR lib/tmpfiles.d CACHE PATH
    "Where tmpfiles.d/riked.conf is installed (relative: under the prefix)")
install(CODE "
  set(RIKED \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/riked\")
  configure_file(\"${CMAKE_SOURCE_DIR}/systemd/riked.service.in\"
                 \"${CMAKE_BINARY_DIR}/systemd/riked.service\" @ONLY)
  file(INSTALL DESTINATION \"${RIKE_SYSTEMD_UNITDIR}\" TYPE FILE
       FILES \"${CMAKE_BINARY_DIR}/systemd/riked.service\")")
install(FILES ${CMAKE_SOURCE_DIR}/systemd/riked.tmpfiles DESTINATION ${RIKE_TMPFILESDIR}
        RENAME riked.conf)

# ---- the Debian package: `cpack -G DEB` in the build directory ----
# CPack's DEB generator rather than a debian/ folder: it needs only cmake
# and dpkg-dev (build-essential), which CI already has, and it packages
# exactly what the rules above install. dpkg-shlibdeps computes Depends.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rike)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "rike developers <rike@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "IKEv2 daemon (RFC 7296) with QCD, Redirect and MOBIKE")
set(CPACK_PACKAGE_DESCRIPTION
    "riked negotiates IPsec SAs with IKEv2 and installs them in its userspace
ESP data plane or in the kernel (XFRM); rikectl controls it and decodes
IKE captures.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers (>= 1.54)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
configure_file(${CMAKE_SOURCE_DIR}/packaging/deb/conffiles.in ${CMAKE_BINARY_DIR}/deb/conffiles
               @ONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/deb/conffiles ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/prerm ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
