// The entry point is an object's @JvmStatic main, not the file's class.
object Solution {
    @JvmStatic fun main(args: Array<String>) {
        val (a, b) = readLine()!!.trim().split(Regex("\\s+")).map { it.toLong() }
        println(a + b)
    }
}
