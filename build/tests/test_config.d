build/tests/test_config.o: tests/unit/test_config.c src/cli.h \
 src/config.h src/cidr.h src/diag.h src/log.h tests/unit/test.h \
 src/util.h
src/cli.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
tests/unit/test.h:
src/util.h:
