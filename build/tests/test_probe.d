build/tests/test_probe.o: tests/unit/test_probe.c src/config.h src/cidr.h \
 src/diag.h src/log.h src/mounts.h src/netns.h src/probe.h src/config.h \
 tests/unit/test.h src/util.h
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/mounts.h:
src/netns.h:
src/probe.h:
src/config.h:
tests/unit/test.h:
src/util.h:
