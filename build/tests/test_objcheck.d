build/tests/test_objcheck.o: tests/unit/test_objcheck.c \
 build/guard.skel.h src/objcheck.h tests/unit/test.h
build/guard.skel.h:
src/objcheck.h:
tests/unit/test.h:
