build/src/objcheck.o: src/objcheck.c src/log.h src/objcheck.h src/util.h
src/log.h:
src/objcheck.h:
src/util.h:
