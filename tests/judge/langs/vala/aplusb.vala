void main () {
    var parts = stdin.read_line ().strip ().split (" ");
    int64 a = int64.parse (parts[0]);
    int64 b = int64.parse (parts[parts.length - 1]);
    print ("%" + int64.FORMAT + "\n", a + b);
}
