build/tests/main.o: tests/unit/main.c src/log.h tests/unit/test.h
src/log.h:
tests/unit/test.h:
