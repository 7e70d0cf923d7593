build/src/audit.o: src/audit.c src/audit.h src/log.h src/util.h
src/audit.h:
src/log.h:
src/util.h:
