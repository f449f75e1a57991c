using System;
class Aplusb { static void Main() { var p = Console.ReadLine().Trim().Split(' '); Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }
