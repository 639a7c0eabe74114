# bash completion for godwit(1): verbs, options, domain names and files.

_godwit_domains()
{
	godwit list 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_godwit()
{
	local cur prev verb
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	verb=${COMP_WORDS[1]}

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "run create list console pause unpause
			announce shutdown destroy save restore migrate migrate-receive
			job-info job-abort inspect --help --version" -- "$cur"))
		return
	fi
	case "$prev" in
	--kernel|--initrd|--exit-file|--hooks-dir|--qmp)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--cpu)
		COMPREPLY=($(compgen -W "host x86-64-v1 x86-64-v2 x86-64-v3 x86-64-v4" -- "$cur")); return ;;
	--serial)
		COMPREPLY=($(compgen -W "stdio pty none file:" -- "$cur")); return ;;
	esac
	case "$verb" in
	run)
		COMPREPLY=($(compgen -W "--kernel --initrd --cmdline --memory
			--vcpus --cpu --serial --name --qmp --paused --exit-file
			--hooks-dir --disk --vif" -- "$cur") $(compgen -f -- "$cur")) ;;
	create|restore|inspect)
		COMPREPLY=($(compgen -W "-p -c -F --serial --qmp" -- "$cur") $(compgen -f -- "$cur")) ;;
	migrate)
		COMPREPLY=($(compgen -W "--no-live --bandwidth --downtime
			--max-rounds --verbose $(_godwit_domains)" -- "$cur")) ;;
	migrate-receive)
		COMPREPLY=($(compgen -W "--listen --incoming-fd --reject-name
			--serial --qmp --paused" -- "$cur")) ;;
	save)
		COMPREPLY=($(compgen -W "-c -p $(_godwit_domains)" -- "$cur") $(compgen -f -- "$cur")) ;;
	list)
		COMPREPLY=($(compgen -W "-l --json" -- "$cur")) ;;
	*)
		COMPREPLY=($(compgen -W "$(_godwit_domains)" -- "$cur")) ;;
	esac
}
complete -F _godwit godwit
