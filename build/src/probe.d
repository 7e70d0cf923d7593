build/src/probe.o: src/probe.c src/cli.h
src/cli.h:
