" Vim syntax file for netspec's .net files: the same groups as the VS Code grammar
" (editors/vscode/syntaxes/netspec.tmLanguage.json).
if exists("b:current_syntax")
  finish
endif

syntax match netspecComment "#.*$"
syntax match netspecNumber "[-+]\=\.\=\<\d[0-9A-Za-z_.]*"
syntax match netspecKey "\<\h\w*\ze\s*="
syntax match netspecArrow "->"
syntax match netspecStatement "^\s*\(\h\w*\s*:\s*\)\=\h\w*\>" contains=netspecLabel,netspecHeader,netspecKind
syntax match netspecLabel "\h\w*\ze\s*:" contained
syntax keyword netspecHeader network input contained
syntax keyword netspecKind conv maxpool avgpool globalavgpool adaptiveavgpool flatten dense batchnorm dropout add concat relu sigmoid tanh softmax contained
syntax match netspecBlock "^\s*block\s\+\h\w*" contains=netspecStructure
syntax match netspecRepeat "^\s*repeat\>" contains=netspecStructure
syntax keyword netspecStructure block repeat contained
syntax keyword netspecConstant true false same valid

highlight default link netspecComment Comment
highlight default link netspecNumber Number
highlight default link netspecKey Identifier
highlight default link netspecArrow Operator
highlight default link netspecStatement Function
highlight default link netspecLabel Label
highlight default link netspecHeader PreProc
highlight default link netspecKind Type
highlight default link netspecBlock Function
highlight default link netspecStructure Statement
highlight default link netspecConstant Constant

let b:current_syntax = "netspec"
