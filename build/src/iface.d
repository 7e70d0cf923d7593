build/src/iface.o: src/iface.c src/config.h src/cidr.h src/diag.h \
 src/log.h src/iface.h src/util.h
src/config.h:
src/cidr.h:
src/diag.h:
src/log.h:
src/iface.h:
src/util.h:
