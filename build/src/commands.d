build/src/commands.o: src/commands.c src/cli.h src/client.h src/util.h
src/cli.h:
src/client.h:
src/util.h:
