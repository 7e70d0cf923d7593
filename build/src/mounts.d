build/src/mounts.o: src/mounts.c src/log.h src/mounts.h src/util.h
src/log.h:
src/mounts.h:
src/util.h:
