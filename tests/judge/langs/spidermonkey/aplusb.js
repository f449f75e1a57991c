const [a, b] = readline().trim().split(/\s+/).map(BigInt);
print((a + b).toString());
