x = fscanf(stdin, "%ld");
printf("%ld\n", int64(x(1)) + int64(x(2)));
