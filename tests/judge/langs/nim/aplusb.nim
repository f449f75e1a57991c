import strutils
let v = stdin.readLine().splitWhitespace()
echo parseBiggestInt(v[0]) + parseBiggestInt(v[1])
