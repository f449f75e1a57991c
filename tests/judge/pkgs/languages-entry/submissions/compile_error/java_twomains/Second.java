class Second { public static void main(String[] a) { System.out.println(2); } }
