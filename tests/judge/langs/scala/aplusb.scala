// The object is not named after the file: the judge finds it.
object Solution extends App {
  val Array(a, b) = scala.io.StdIn.readLine().trim.split("\\s+").map(_.toLong)
  println(a + b)
}
