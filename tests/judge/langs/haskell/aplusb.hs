main :: IO ()
main = interact $ \s -> let [a, b] = map read (words s) :: [Integer] in show (a + b) ++ "\n"
