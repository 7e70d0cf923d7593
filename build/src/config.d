build/src/config.o: src/config.c src/cli.h src/config.h src/cidr.h \
 src/diag.h src/log.h src/util.h
src/cli.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/util.h:
