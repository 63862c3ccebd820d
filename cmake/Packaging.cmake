# The Debian package: `cpack -G DEB` in the build directory writes
# ebb_<version>_<arch>.deb there (docs/deployment.md).
#
# One package, not one per daemon: the three programs are built from the same
# static libraries, link the same shared libraries and speak one protocol
# version, so a fleet is upgraded as one version; the coordinator's unit and
# user on a database host (or the agent's on the coordinator) cost nothing,
# since the postinst enables and starts nothing. Operators' workstations
# install the same package for the `ebb` CLI.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ebb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "ebb")
set(EBB_PACKAGE_MAINTAINER "ebb maintainers <maintainers@ebb.invalid>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${EBB_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${EBB_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "coordinated schema migrations and rollbacks for PostgreSQL fleets")
set(CPACK_PACKAGE_DESCRIPTION "\
A coordinator plans migrations and rollbacks and drives them across hosts in
waves (canary, batches, failure budget, gates, approvals); an agent on every
database host runs signed jobs: stop services, back up, migrate or downgrade,
verify schema and data, restart and health-check, report back. Every run
leaves a tamper-evident audit record.

Contains ebb-agent, ebb-coordinator, the ebb operator CLI, their systemd
units (not enabled) and example configurations.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Release binaries; debug information stays in the build tree.
set(CPACK_STRIP_FILES TRUE)

# Shared libraries (libpq, nng, libsodium, protobuf-c, libconfig, jansson,
# pcre2) as dpkg-shlibdeps finds them; libpg_query is linked statically.
find_program(EBB_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(EBB_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(WARNING "dpkg-shlibdeps not found (package dpkg-dev): the .deb will "
                  "lack the shared-library Depends")
endif()
# adduser for the postinst; pg_dump / pg_restore of the target major for
# backups; the Alembic helper needs python3-alembic only for Alembic projects;
# polkitd lets the agent stop and start services (deploy/polkit).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, postgresql-client-15")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-alembic, polkitd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-15, sudo")

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
