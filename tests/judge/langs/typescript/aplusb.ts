declare function require(name: string): any;
const fs = require("fs");
const [a, b]: bigint[] = fs.readFileSync(0, "utf8").trim().split(/\s+/).map((x: string) => BigInt(x));
console.log((a + b).toString());
