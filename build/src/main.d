build/src/main.o: src/main.c src/cli.h src/log.h src/util.h
src/cli.h:
src/log.h:
src/util.h:
