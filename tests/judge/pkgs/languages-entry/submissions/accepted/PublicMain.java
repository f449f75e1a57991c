import java.util.Scanner;
public class Main {
    public static void main(String[] args) {
        Scanner s = new Scanner(System.in);
        System.out.println(Adder.add(s.nextLong(), s.nextLong()));
    }
}
class Adder { static long add(long a, long b) { return a + b; } }
