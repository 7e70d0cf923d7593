build/src/cli.o: src/cli.c src/cli.h src/util.h
src/cli.h:
src/util.h:
