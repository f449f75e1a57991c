class Lonely { static int x = 1; }
