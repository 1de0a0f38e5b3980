// docs/recipe.md documents every key of the recipe schema, so the docs cannot fall behind the code.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

std::string slurp(const std::string& relative) {
    std::ifstream stream(std::string(IMGBUILD_SOURCE_DIR) + "/" + relative);
    std::ostringstream text;
    text << stream.rdbuf();
    return text.str();
}

void expect_documented(const nlohmann::json& schema, const std::string& prefix, const std::string& docs) {
    if (!schema.contains("properties")) return;
    for (const auto& [key, property] : schema.at("properties").items()) {
        std::string path = prefix.empty() ? key : prefix + "." + key;
        // A mapping with keys of its own is documented through them; keys of nested mappings may be
        // documented in a combined row such as `units.enable`, `units.mask`.
        if (!property.contains("properties")) {
            EXPECT_TRUE(docs.find("`" + path + "`") != std::string::npos ||
                        docs.find("`" + key + "`") != std::string::npos)
                << "docs/recipe.md does not mention `" << path << "`";
        }
        expect_documented(property, path, docs);
    }
}

TEST(Docs, RecipeReferenceCoversEverySchemaKey) {
    auto schema = nlohmann::json::parse(slurp("schema/recipe.schema.json"));
    auto docs = slurp("docs/recipe.md");
    expect_documented(schema, "", docs);
    for (const auto& [name, definition] : schema.at("definitions").items()) expect_documented(definition, "", docs);
}

} // namespace
