# What `cmake --install` (and so the .deb, cmake/Packaging.cmake) puts where,
# besides the programs (installed from agent/ and coordinator/) and the Alembic
# helper (agent/CMakeLists.txt, share/ebb): systemd units, documentation, and
# the examples an administrator copies to /etc and edits. Nothing goes to /etc
# itself: every file there is the site's own (docs/deployment.md).
set(EBB_INSTALL_DOCDIR share/doc/ebb)

install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/ebb-agent.service
              ${CMAKE_SOURCE_DIR}/deploy/systemd/ebb-coordinator.service
        DESTINATION lib/systemd/system)

install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${EBB_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${EBB_INSTALL_DOCDIR})

install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/examples/ DESTINATION ${EBB_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/polkit/50-ebb-agent.rules
        DESTINATION ${EBB_INSTALL_DOCDIR}/examples/polkit)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/sudoers/ebb-agent
              ${CMAKE_SOURCE_DIR}/deploy/sudoers/ebb-agent-sudo.conf
        DESTINATION ${EBB_INSTALL_DOCDIR}/examples/sudoers)
