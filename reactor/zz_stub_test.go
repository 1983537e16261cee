package reactor

const emfileChildEnv = "MUSTAINE_EMFILE_CHILD"

func emfileChild() {}
