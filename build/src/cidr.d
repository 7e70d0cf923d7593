build/src/cidr.o: src/cidr.c src/cidr.h src/util.h
src/cidr.h:
src/util.h:
