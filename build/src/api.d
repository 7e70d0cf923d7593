build/src/api.o: src/api.c src/api.h src/audit.h src/config.h src/cidr.h \
 src/diag.h src/log.h src/util.h
src/api.h:
src/audit.h:
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/util.h:
