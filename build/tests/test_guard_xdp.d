build/tests/test_guard_xdp.o: tests/unit/test_guard_xdp.c \
 include/aegis/guard.h build/guard.skel.h src/log.h tests/unit/pkt.h \
 tests/unit/test.h
include/aegis/guard.h:
build/guard.skel.h:
src/log.h:
tests/unit/pkt.h:
tests/unit/test.h:
