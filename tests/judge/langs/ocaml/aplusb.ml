(* Uses Str and Unix: the judge links them as Kattis does. *)
let () =
  ignore (Unix.getpid ());
  let line = String.trim (input_line stdin) in
  match List.map int_of_string (Str.split (Str.regexp "[ \t]+") line) with
  | [a; b] -> Printf.printf "%d\n" (a + b)
  | _ -> exit 1
