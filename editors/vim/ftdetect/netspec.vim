" netspec's .net files
autocmd BufRead,BufNewFile *.net setfiletype netspec
