import java.io.*;
class Solver {
    public static void main(String[] args) throws IOException {
        String[] p = new BufferedReader(new InputStreamReader(System.in)).readLine().trim().split("\\s+");
        System.out.println(Util.sum(Long.parseLong(p[0]), Long.parseLong(p[1])));
    }
}
