build/src/client.o: src/client.c src/client.h src/util.h
src/client.h:
src/util.h:
